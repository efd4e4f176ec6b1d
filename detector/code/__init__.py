"""The setup-code signal: install-time analysis of package files plus a trained model.

Public API: `scan_path(path)` for sdists, wheels, zips and directories, and
`scan_files(files, origin)` for {relative path: text} (stream events). Nothing a
package contains is ever executed or imported.
"""

from detector.code.findings import Finding, ScanResult
from detector.code.scan import scan_files, scan_path

__all__ = ["Finding", "ScanResult", "scan_files", "scan_path"]
