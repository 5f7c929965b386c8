"""Trees assembled from hard links: the build's dependencies and the staged wwwroot.

A hard link costs one system call and no data, so a 150 MB tree is assembled in a fraction of a
second; across filesystems (or where links are refused) files are copied instead. Nothing may
edit a linked file in place, as that would change its other names too: pip and uv replace
files rather than edit them, and the import check sees the staged tree read-only.
"""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Iterable
from pathlib import Path

from azpublish.ignore import FileEntry

# Why os.link may fail where a copy still works: another filesystem, a filesystem or policy
# without hard links, or too many links to one inode.
_NO_LINK = frozenset((errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP))


def link_or_copy(source: str | Path, target: Path, can_link: bool) -> bool:
    """Give ``source`` the new name ``target`` (a copy when linking is not possible); whether
    linking is still worth trying for the next file."""
    if can_link:
        try:
            os.link(source, target)
            return True
        except OSError as error:
            if error.errno not in _NO_LINK:
                raise
    shutil.copy2(source, target)
    return False


def stage_entries(entries: Iterable[FileEntry], dest: Path) -> None:
    """Lay ``entries`` out under ``dest`` (which must not exist) as the package will hold them:
    what the import check reads is exactly what is uploaded."""
    dest.mkdir()
    made: set[str] = {""}
    can_link = True
    for entry in entries:
        folder, _, _ = entry.archive_path.rpartition("/")
        if folder not in made:
            (dest / folder).mkdir(parents=True, exist_ok=True)
            made.add(folder)
        can_link = link_or_copy(entry.source, dest / entry.archive_path, can_link)
