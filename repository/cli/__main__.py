"""`python -m repository.cli` is `tangthu`, for processes started without the script."""

from . import main

main()
