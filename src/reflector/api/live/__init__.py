"""Live streams: audio in (WebSocket or WebRTC); live words and translations out."""
