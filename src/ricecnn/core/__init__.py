"""What every stage runs: the command line (``cli``: the stage table, arguments, one-line errors), the
settings (``settings``: params.yaml, parsed and validated once), the one error type (``errors``) and
atomic writes (``io``). One package, so that dvc.yaml lists it as one dependency of every stage."""
