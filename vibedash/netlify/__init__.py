"""Netlify at the edge: the REST client, a spec-following loopback simulator, and sync into the registry."""
