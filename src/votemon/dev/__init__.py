"""Development tooling, never run by a service (it needs the dev extras): the pipeline as local
processes (`processes`), the pipeline with clients to check what it wrote (`pipeline`), waits on
facts (`eventually`), the results page in a real browser (`browser`), and `python -m votemon.dev`
behind `make up` and `make down`. The tests and the bench build on it."""
