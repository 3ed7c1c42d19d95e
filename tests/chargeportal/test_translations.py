"""Every message shown to people exists in Swedish, and the compiled catalogue is current."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _tracked_files() -> list[str]:
    listed = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True)  # noqa: S607
    return [name for name in listed.stdout.splitlines() if (ROOT / name).is_file()]


def test_every_message_has_a_swedish_translation(tmp_path):
    for name in _tracked_files():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, tmp_path / name)
    subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", "makemessages", "-l", "sv", "--no-obsolete"],
        cwd=tmp_path,
        env={"DEBUG": "1", "PATH": "/usr/bin:/bin"},
        check=True,
        capture_output=True,
    )
    catalogue = tmp_path / "locale/sv/LC_MESSAGES/django.po"
    stats = subprocess.run(  # noqa: S603
        ["msgfmt", "--statistics", "-o", tmp_path / "django.mo", catalogue],  # noqa: S607
        capture_output=True,
        text=True,
        check=True,
    ).stderr
    assert "untranslated" not in stats and "fuzzy" not in stats, stats


def test_compiled_catalogue_is_newer_than_its_source():
    messages = ROOT / "locale/sv/LC_MESSAGES"
    compiled = subprocess.run(  # noqa: S603
        ["msgfmt", "-o", "-", messages / "django.po"],  # noqa: S607
        capture_output=True,
        check=True,
    ).stdout
    assert compiled == (messages / "django.mo").read_bytes(), "run `make messages` and commit django.mo"


#: The names xgettext looks for (Django's makemessages keywords): a translation function imported under any other
#: name hides its strings from the catalogue, and they show in English on Swedish pages.
EXTRACTED_NAMES = {"_", "gettext", "gettext_lazy", "ngettext", "ngettext_lazy", "pgettext", "pgettext_lazy"}
ALIASED_IMPORT = re.compile(r"from django\.utils\.translation import .*\b(\w*gettext\w*) as (\w+)")


def test_translation_functions_are_imported_under_names_makemessages_extracts():
    hidden = [
        f"{name}: {match.group(1)} as {match.group(2)}"
        for name in _tracked_files()
        if name.endswith(".py")
        for match in ALIASED_IMPORT.finditer((ROOT / name).read_text())
        if match.group(2) not in EXTRACTED_NAMES
    ]
    assert not hidden, hidden
