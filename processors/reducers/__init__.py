"""The reducers: pure `(state, record) -> (state, [events])` folds."""
