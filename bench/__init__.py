"""`python -m bench`: the side-by-side performance benchmark of issue 7 (not part of `make test`)."""
