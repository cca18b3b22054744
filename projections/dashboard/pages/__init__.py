"""The dashboard's pages: each module turns the data of one page into its HTML body."""
__all__: list[str] = []
