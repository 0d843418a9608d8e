"""A LlamaIndex query engine with the LLM, its embeddings and the ingestion cached.

    python examples/llamaindex_rag.py

Runs offline: ScriptedLLM and MockEmbedding stand for OpenAI(...) and HuggingFaceEmbedding(...).
"""

from __future__ import annotations

from typing import Any

from llama_index.core import Document, Settings, VectorStoreIndex
from llama_index.core.embeddings import MockEmbedding
from llama_index.core.ingestion import IngestionCache, IngestionPipeline
from llama_index.core.llms import CompletionResponse, CustomLLM, LLMMetadata
from llama_index.core.llms.callbacks import llm_completion_callback
from llama_index.core.node_parser import SentenceSplitter

from llamaindex_tiered_cache import CachedEmbedding, TieredKVStore, cached_llm

DOCS = [
    Document(text="Paris is the capital of France. It lies on the Seine."),
    Document(text="Madrid is the capital of Spain. It lies on the Manzanares."),
]
SCRIPT = {"Paris": "The Seine flows through Paris.", "Madrid": "The Manzanares."}


class ScriptedLLM(CustomLLM):
    """Answers like a model would, from SCRIPT, by the question at the end of the prompt."""

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(model_name="scripted")

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        question = prompt.rsplit("Query:", 1)[-1]
        text = next((a for k, a in SCRIPT.items() if k in question), "I do not know.")
        print("  (the LLM was called)")
        return CompletionResponse(text=text)

    @llm_completion_callback()
    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> Any:
        yield self.complete(prompt, formatted, **kwargs)


def main() -> None:
    Settings.llm = cached_llm(ScriptedLLM())  # a function-calling model gets the agent wrapper
    Settings.embed_model = CachedEmbedding(MockEmbedding(embed_dim=8))
    pipeline = IngestionPipeline(
        transformations=[SentenceSplitter(chunk_size=128, chunk_overlap=16), Settings.embed_model],
        cache=IngestionCache(cache=TieredKVStore()),
    )
    nodes = pipeline.run(documents=DOCS)
    again = pipeline.run(documents=DOCS)  # served by the ingestion cache: nothing re-embedded
    assert [n.text for n in again] == [n.text for n in nodes]
    engine = VectorStoreIndex(nodes).as_query_engine()
    for question in ("Which river flows through Paris?", "Which river flows through Paris?"):
        print(f"{question!r} -> {str(engine.query(question))!r}")
    stats = Settings.llm.cache.stats()
    print(f"LLM cache: {stats['exact_hits']} exact hit(s), {stats['misses']} miss(es)")


if __name__ == "__main__":
    main()
