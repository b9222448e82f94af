"""``openai`` backend: any OpenAI-compatible chat-completions endpoint (vLLM, Ollama, llama.cpp, hosted).

Standard library only (``urllib``). The API key is read from the environment variable named in the config
at request time and is never logged, cached or stored.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import time
import urllib.error
import urllib.request

from .errors import LLMConfigError, LLMError
from .registry import CAPTION_BACKENDS

log = logging.getLogger("data_pipelines.captions")

_FATAL = {400: "bad request", 401: "unauthorized", 403: "forbidden", 404: "not found"}


@CAPTION_BACKENDS.register("openai")
class OpenAIBackend:
    """Chat-completions client with timeouts and bounded exponential-backoff retries.

    Args:
        base_url: Endpoint root, e.g. ``http://127.0.0.1:8000/v1`` (``/chat/completions`` is appended).
        model: Model name on the server.
        api_key_env: Environment variable holding the key (``""``: send no key).
        temperature, top_p, max_tokens: Sampling parameters sent with every request.
        timeout: Seconds per request.
        retries: Extra tries after a timeout, connection error, 429 or 5xx.
        backoff: First retry delay in seconds (doubled each retry, capped at 30 s).
        system: Optional system message.
    """

    name = "openai"

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key_env: str = "OPENAI_API_KEY",
        temperature: float = 0.7,
        top_p: float = 1.0,
        max_tokens: int = 512,
        timeout: float = 60.0,
        retries: int = 3,
        backoff: float = 1.0,
        system: str = "You are a careful radiologist who writes concise report sentences.",
    ):
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self.llm_id = model
        self.api_key_env = api_key_env
        self.temperature, self.top_p, self.max_tokens = temperature, top_p, max_tokens
        self.timeout, self.retries, self.backoff = timeout, retries, backoff
        self.system = system
        self.requests = 0  # HTTP requests sent (including retries)
        self.answered = 0  # requests that got any HTTP answer

    @classmethod
    def from_config(cls, cfg) -> OpenAIBackend:
        """Build from a :class:`~data_pipelines.captions.CaptionConfig`."""
        return cls(
            base_url=cfg.base_url, model=cfg.model, api_key_env=cfg.api_key_env, temperature=cfg.temperature,
            top_p=cfg.top_p, max_tokens=cfg.max_tokens, timeout=cfg.timeout, retries=cfg.retries,
            backoff=cfg.backoff,
        )  # fmt: skip

    def _headers(self) -> dict:
        headers = {"Content-Type": "application/json"}
        if self.api_key_env:
            key = os.environ.get(self.api_key_env, "")
            if key:
                headers["Authorization"] = "Bearer " + key
        return headers

    def _body(self, prompt: str, seed: int) -> bytes:
        """The JSON chat-completions request: the system message (if any), the prompt, the sampling settings."""
        messages = [{"role": "user", "content": prompt}]
        if self.system:
            messages.insert(0, {"role": "system", "content": self.system})
        return json.dumps(
            {
                "model": self.model,
                "messages": messages,
                "temperature": self.temperature,
                "top_p": self.top_p,
                "max_tokens": self.max_tokens,
                "seed": seed,
            }
        ).encode()

    def complete(self, prompt: str, *, seed: int) -> str:
        """Send one chat request and return the answer text.

        Raises:
            LLMError: after ``retries`` failed retries (timeouts, connection errors, 429, 5xx, bad JSON).
            LLMConfigError: on 400/401/403/404 (no retry can fix these).
        """
        body = self._body(prompt, seed)
        last = ""
        refused = 0
        for attempt in range(self.retries + 1):
            if attempt:
                delay = min(self.backoff * 2 ** (attempt - 1), 30.0)
                time.sleep(delay)
            req = urllib.request.Request(self.url, data=body, headers=self._headers(), method="POST")
            self.requests += 1
            try:
                with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                    payload = json.loads(resp.read().decode("utf-8", "replace"))
                self.answered += 1
                return _content(payload)
            except urllib.error.HTTPError as e:
                self.answered += 1
                if e.code in _FATAL:
                    raise LLMConfigError(
                        f"caption LLM endpoint {self.url} answered HTTP {e.code} ({_FATAL[e.code]}) "
                        f"for model {self.model!r}; check captions.base_url, captions.model and "
                        f"${self.api_key_env}"
                    ) from None
                last = f"HTTP {e.code}"
            except TimeoutError:
                last = f"timeout after {self.timeout:g} s"
            except urllib.error.URLError as e:
                reason = e.reason
                refused += isinstance(reason, ConnectionRefusedError)
                last = (
                    f"timeout after {self.timeout:g} s"
                    if isinstance(reason, TimeoutError)
                    else f"connection error ({reason})"
                )
            except (http.client.HTTPException, ConnectionError, OSError) as e:
                last = f"connection error ({type(e).__name__})"
            except (json.JSONDecodeError, KeyError, IndexError, TypeError, ValueError) as e:
                last = f"malformed response ({type(e).__name__})"
            log.debug("caption LLM request %d/%d to %s failed: %s", attempt + 1, self.retries + 1, self.url, last)
        if refused == self.retries + 1 and not self.answered:
            raise LLMConfigError(
                f"no server answers at {self.url} (connection refused); start it or fix captions.base_url"
            )
        raise LLMError(f"{self.url}: {last} after {self.retries + 1} tries")


def _content(payload: dict) -> str:
    """The assistant message text of a chat-completions response."""
    content = payload["choices"][0]["message"]["content"]
    if not isinstance(content, str):
        raise TypeError("message content is not a string")
    return content
