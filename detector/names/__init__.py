"""The name signal: how closely a new project name imitates a popular project.

>>> from detector.names import check_name
>>> check_name("reqeusts").best.target
'requests'
"""

from detector.names.checker import NameChecker, check_name, check_names, default_checker
from detector.names.normalize import InvalidName, canonical
from detector.names.results import NameMatch, NameResult

__all__ = [
    "InvalidName",
    "NameChecker",
    "NameMatch",
    "NameResult",
    "canonical",
    "check_name",
    "check_names",
    "default_checker",
]
