"""Inference upstreams behind one `Upstream` protocol (openai:, callable:, hf:, demo, replay:)."""
