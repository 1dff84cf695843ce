"""Light text analysis that needs no model download: sentiment."""

from reflector.nlp.sentiment import Sentiment, analyze_sentiment

__all__ = ["Sentiment", "analyze_sentiment"]
