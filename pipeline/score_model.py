"""Loading a masked LM with clear errors, and log-probabilities at chosen positions only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from pipeline.common import PipelineError

DEVICES = ("auto", "cpu", "cuda")
# Attributes that hold the MLM head on top of `model.base_model`: BERT, (XLM-)RoBERTa, XLM.
HEAD_ATTRS = ("cls", "lm_head", "pred_layer")
# Head-only and full-model log-probs must agree this closely, else the full model is used.
HEAD_CHECK_ATOL = 1e-4
# The head runs on blocks of exactly this many rows (zero-padded): BLAS picks kernels by matrix
# shape, and a one-row product differs from a many-row one in the last bit, which would make a
# probe's score depend on how many masks share its batch. Small, so that padding costs little.
HEAD_BLOCK = 16


def resolve_device(choice: str) -> torch.device:
    """`auto` is CUDA when present; asking for CUDA without one is an error."""
    if choice == "cuda" and not torch.cuda.is_available():
        raise PipelineError(
            "params.yaml: `score.device` is cuda, but torch sees no CUDA device "
            f"(torch {torch.__version__}, cuda build: {torch.version.cuda}). Set it to auto or cpu."
        )
    if choice == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(choice)


def _fetch_hint(name: str, revision: str, key: str) -> str:
    return (f"Fetch it once while online with `hf download {name} --revision {revision}` "
            f"(older huggingface_hub: `huggingface-cli download {name} --revision {revision}`), "
            f"or point `score.models.{key}.name` to a local folder that holds the model and tokenizer.")


def _first_line(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0]


def load_masked_lm(name: str, revision: str, key: str) -> tuple[Any, torch.nn.Module]:
    """Tokenizer and masked-LM model from a hub id or local folder; tokens come from the HF login store."""
    from transformers import AutoConfig, AutoModelForMaskedLM, AutoTokenizer
    from transformers.models.auto.modeling_auto import MODEL_FOR_MASKED_LM_MAPPING

    where = f"model `{name}` (revision {revision}, score.models.{key})"
    try:
        config = AutoConfig.from_pretrained(name, revision=revision)
    except (OSError, ValueError) as err:
        if Path(name).exists():
            raise PipelineError(f"{where}: the local folder cannot be loaded ({_first_line(err)}). "
                                "It needs config.json, the weights and the tokenizer files (save_pretrained).") from None
        raise PipelineError(
            f"{where} is not in the local Hugging Face cache and could not be fetched "
            f"(offline: HF_HUB_OFFLINE=1 or no network; or a wrong id/revision). {_fetch_hint(name, revision, key)} "
            f"Cause: {_first_line(err)}"
        ) from None
    if type(config) not in MODEL_FOR_MASKED_LM_MAPPING:
        raise PipelineError(f"{where} is not a masked language model (its config is {type(config).__name__}, which "
                            "has no fill-mask head in transformers). Use a masked LM such as "
                            "google-bert/bert-base-multilingual-uncased or FacebookAI/xlm-roberta-base.")
    try:
        tokenizer = AutoTokenizer.from_pretrained(name, revision=revision)
        model = AutoModelForMaskedLM.from_pretrained(name, revision=revision, dtype=torch.float32)
    except (OSError, ValueError) as err:
        raise PipelineError(f"{where}: loading failed ({_first_line(err)}). {_fetch_hint(name, revision, key)}") from None
    if tokenizer.mask_token is None or tokenizer.mask_token_id is None:
        raise PipelineError(f"{where}: its tokenizer has no mask token, so it cannot fill a [MASK]; use a masked LM.")
    return tokenizer, model.eval()


def _contains(module: torch.nn.Module, part: torch.nn.Module | None) -> bool:
    return part is not None and any(m is part for m in module.modules())


class SiteScorer:
    """Log-softmax over the vocabulary at given (row, position) sites of a padded batch.

    Runs the base model, then the MLM head on the selected hidden states only, when the model's
    head is one we know and reproduces the model's own logits; otherwise the full model.
    """

    def __init__(self, model: torch.nn.Module, tokenizer: Any, device: torch.device):
        self.model = model.to(device).eval()
        self.device = device
        self.token_types = "token_type_ids" in getattr(tokenizer, "model_input_names", ())
        self.base, self.head = self._split(model)
        if self.head is not None and not self._head_agrees(tokenizer):
            self.base = self.head = None

    @staticmethod
    def _split(model: torch.nn.Module) -> tuple[Any, Any]:
        base = getattr(model, "base_model", None)
        out_emb = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
        for attr in HEAD_ATTRS:
            head = getattr(model, attr, None)
            # The head must be the module that holds the output embeddings, or it is something else.
            if isinstance(head, torch.nn.Module) and base is not None and base is not model and _contains(head, out_emb):
                return base, head
        return None, None

    @property
    def head_only(self) -> bool:
        """True when the head runs on the masked positions only."""
        return self.head is not None

    def _head_agrees(self, tokenizer: Any) -> bool:
        ids = [*range(min(8, len(tokenizer))), tokenizer.mask_token_id]
        batch = torch.tensor([ids], device=self.device)
        mask = torch.ones_like(batch)
        rows, cols = torch.zeros(len(ids), dtype=torch.long), torch.arange(len(ids))
        fast = self.log_probs(batch, mask, rows, cols)
        head, self.head = self.head, None
        full = self.log_probs(batch, mask, rows, cols)
        self.head = head
        return bool(torch.allclose(fast, full, atol=HEAD_CHECK_ATOL, rtol=0))

    @torch.inference_mode()
    def log_probs(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, rows: torch.Tensor,
                  cols: torch.Tensor, langs: torch.Tensor | None = None) -> torch.Tensor:
        """[n_sites, vocab] float32 log-probabilities at sites (rows[i], cols[i])."""
        kwargs: dict[str, torch.Tensor] = {"input_ids": input_ids, "attention_mask": attention_mask}
        if self.token_types:
            kwargs["token_type_ids"] = torch.zeros_like(input_ids)
        if langs is not None:
            kwargs["langs"] = langs
        rows, cols = rows.to(self.device), cols.to(self.device)
        if self.head is None:
            logits = self.model(**kwargs).logits[rows, cols]
        else:
            logits = self._head_blocks(self.base(**kwargs)[0][rows, cols])
        return torch.log_softmax(logits.float(), dim=-1)

    def _head_blocks(self, hidden: torch.Tensor) -> torch.Tensor:
        n = hidden.shape[0]
        padded = torch.cat([hidden, hidden.new_zeros((-n % HEAD_BLOCK, hidden.shape[1]))])
        outs = [self.head(block) for block in padded.split(HEAD_BLOCK)]
        return torch.cat([o[0] if isinstance(o, tuple) else o for o in outs])[:n]
