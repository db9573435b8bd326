"""Model backends: specs (``specs``), the registry that builds one chat model per spec
(``registry``), and the backends themselves (fake, sim, llama.cpp, OpenAI-compatible)."""
