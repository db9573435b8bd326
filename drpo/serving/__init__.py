"""Using an optimized run: the alignment pack, AlignedChatModel (system prompt + retrieved ICL
around any chat model), `drpo serve` (OpenAI-compatible) and `drpo chat`."""
