"""Voice: speech to text and text to speech, in Reflector's own and OpenAI-compatible shapes."""
