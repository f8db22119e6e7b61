"""`embed` as a library: records in, embedded batches out, through a backend; written by the write loop."""

from embedcli.embed.queries import ModelChoice, embed_query_media, embed_query_texts

__all__ = ["ModelChoice", "embed_query_media", "embed_query_texts"]
