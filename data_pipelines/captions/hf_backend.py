"""``hf`` backend: a local transformers causal LM (folder with config, weights and tokenizer).

transformers and torch are imported only when this backend is built.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

from .errors import LLMConfigError
from .registry import CAPTION_BACKENDS


@CAPTION_BACKENDS.register("hf")
class HFBackend:
    """Sampling from a local causal LM.

    Args:
        path: Model folder (``AutoModelForCausalLM`` + ``AutoTokenizer``); loaded offline.
        temperature: Sampling temperature (0 = greedy).
        top_p: Nucleus sampling.
        max_tokens: New tokens per answer.
        device: Torch device.
    """

    name = "hf"

    def __init__(
        self,
        path: str,
        *,
        temperature: float = 0.7,
        top_p: float = 1.0,
        max_tokens: int = 512,
        device: str = "cpu",
    ):
        if not Path(path).is_dir():
            raise LLMConfigError(f"captions.model: no local model folder at {path!r} (the hf backend needs a path)")
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        self.model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True).to(device).eval()
        cfg_file = Path(path) / "config.json"
        digest = hashlib.sha256(cfg_file.read_bytes()).hexdigest()[:12] if cfg_file.is_file() else "noconfig"
        self.llm_id = f"{Path(path).resolve().name}:{digest}"  # folder name + config hash
        self.temperature, self.top_p, self.max_tokens, self.device = temperature, top_p, max_tokens, device
        self._lock = threading.Lock()  # one generate() at a time per model

    @classmethod
    def from_config(cls, cfg) -> HFBackend:
        """Build from a :class:`~data_pipelines.captions.CaptionConfig` (``model`` is the folder)."""
        return cls(
            cfg.model,
            temperature=cfg.temperature,
            top_p=cfg.top_p,
            max_tokens=cfg.max_tokens,
            device=cfg.device,
        )

    def _encode(self, prompt: str):
        tok = self.tokenizer
        if getattr(tok, "chat_template", None):
            ids = tok.apply_chat_template(
                [{"role": "user", "content": prompt}], add_generation_prompt=True, return_tensors="pt"
            )
            if not isinstance(ids, self.torch.Tensor):
                ids = ids["input_ids"]
            return ids
        return tok(prompt, return_tensors="pt", add_special_tokens=False)["input_ids"]

    def complete(self, prompt: str, *, seed: int) -> str:
        """Sample one answer (deterministic for a given seed on a given device)."""
        torch = self.torch
        devices = [] if str(self.device).startswith("cpu") else None
        with self._lock, torch.no_grad(), torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            ids = self._encode(prompt).to(self.device)
            max_pos = getattr(self.model.config, "max_position_embeddings", None) or getattr(
                self.model.config, "n_positions", None
            )
            if max_pos and ids.shape[1] + self.max_tokens > max_pos:
                ids = ids[:, -max(1, max_pos - self.max_tokens) :]
            sample = self.temperature > 0
            kwargs = {"do_sample": sample, "max_new_tokens": self.max_tokens}
            if sample:
                kwargs.update(temperature=self.temperature, top_p=self.top_p)
            pad = self.tokenizer.pad_token_id
            if pad is None:
                pad = self.tokenizer.eos_token_id
            out = self.model.generate(ids, attention_mask=torch.ones_like(ids), pad_token_id=pad, **kwargs)
            return self.tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True)
