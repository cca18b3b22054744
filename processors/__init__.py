"""Pure reducers and the runtime that runs them."""
