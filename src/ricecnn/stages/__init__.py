"""One module per DVC stage: a pure core plus a thin `main(argv)`."""
