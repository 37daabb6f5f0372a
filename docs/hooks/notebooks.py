"""mkdocs hook: render the repository's notebooks/*.ipynb (outside docs/) as pages under notebooks/.

The notebooks are added to the build's files where they are stored (a File whose source folder is the
repository root, so that its path is ``notebooks/<name>.ipynb`` as in the repository); mkdocs-jupyter renders them
without executing them (``execute: false`` in mkdocs.yml). Nothing is copied into the repository. The hook runs
before mkdocs-jupyter's ``on_files`` so that the plugin sees the notebooks.
"""
from __future__ import annotations

from pathlib import Path

from mkdocs.plugins import event_priority
from mkdocs.structure.files import File


@event_priority(100)
def on_files(files, config):
    root = Path(config.config_file_path).resolve().parent
    for notebook in sorted((root / "notebooks").glob("*.ipynb")):
        files.append(File(f"notebooks/{notebook.name}", src_dir=str(root), dest_dir=config.site_dir,
                          use_directory_urls=config.use_directory_urls))
    return files
