"""The sandbox launcher. It is shipped as source into the sandbox and runs there on its own."""
