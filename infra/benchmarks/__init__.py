"""One module per benchmark; each has add_arguments(parser) and run(args) -> dict."""
