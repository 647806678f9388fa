"""Orchestration across areas: `dogbreed demo` and the `dogbreed serve --api` child process it runs."""
