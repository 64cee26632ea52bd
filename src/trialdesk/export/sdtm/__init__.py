"""SDTM export and import (a regular package, so that import-linter sees its imports)."""
