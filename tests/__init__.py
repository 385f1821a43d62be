"""The test suite, a package: its helpers import as tests._support.* from the repository and from
an unpacked sdist alike (pytest puts the directory above tests/ first on sys.path)."""
