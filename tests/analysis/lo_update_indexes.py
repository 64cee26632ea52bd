"""Open a document in LibreOffice, update its indexes as Tools > Update > Update All does, and
export it to PDF (for tests/analysis/test_analysis_tlf.py).

Run by the system Python, which has LibreOffice's Python–UNO bridge (Debian: python3-uno; see
.ci/run), not by the project's virtualenv:

    /usr/bin/python3 lo_update_indexes.py SOFFICE SOURCE TARGET.pdf PROFILE_DIR

LibreOffice keeps a TOC field's cached result when it opens or converts a DOCX or RTF file;
`XDocumentIndex.update()` is the UNO call behind its "Update Index" command.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import uno  # type: ignore[import-not-found]
from com.sun.star.beans import PropertyValue  # type: ignore[import-not-found]

CONNECT_SECONDS = 120
EXIT_SECONDS = 30


def _property(name: str, value: Any) -> Any:
    prop = PropertyValue()
    prop.Name, prop.Value = name, value
    return prop


def _connect(pipe: str) -> Any:
    local = uno.getComponentContext()
    resolver = local.ServiceManager.createInstanceWithContext(
        "com.sun.star.bridge.UnoUrlResolver", local
    )
    deadline = time.monotonic() + CONNECT_SECONDS
    while True:
        try:
            return resolver.resolve(f"uno:pipe,name={pipe};urp;StarOffice.ComponentContext")
        except Exception:  # NoConnectException until soffice listens
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def update_and_export(soffice: str, source: Path, target: Path, profile: Path) -> int:
    """Returns the number of indexes updated."""
    pipe = f"trialdesk{uuid.uuid4().hex}"
    office = subprocess.Popen(
        [soffice, f"-env:UserInstallation={profile.absolute().as_uri()}", "--headless",
         "--invisible", "--norestore", "--nologo", f"--accept=pipe,name={pipe};urp;"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        context = _connect(pipe)
        desktop = context.ServiceManager.createInstanceWithContext(
            "com.sun.star.frame.Desktop", context
        )
        document = desktop.loadComponentFromURL(
            source.absolute().as_uri(), "_blank", 0, (_property("Hidden", True),)
        )
        indexes = document.getDocumentIndexes()
        for k in range(indexes.getCount()):
            indexes.getByIndex(k).update()
        document.getTextFields().refresh()
        export = (_property("FilterName", "writer_pdf_Export"),)
        document.storeToURL(target.absolute().as_uri(), export)
        count = int(indexes.getCount())
        document.close(True)
        # The bridge may drop while soffice exits: it is exiting either way.
        with contextlib.suppress(Exception):
            desktop.terminate()
        return count
    finally:
        try:
            office.wait(timeout=EXIT_SECONDS)
        except subprocess.TimeoutExpired:
            office.kill()


if __name__ == "__main__":
    soffice, source, target, profile = sys.argv[1:5]
    print(update_and_export(soffice, Path(source), Path(target), Path(profile)))
