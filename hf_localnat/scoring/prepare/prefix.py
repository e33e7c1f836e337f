"""The prefix P that every model input starts with (SPEC §3)."""

from __future__ import annotations

from ...errors import TokenizerError


def start_tokens(tokenizer) -> list[int]:
    """S: `[bos_token_id]` when the tokenizer puts a BOS first when it encodes text with special tokens, else `[]`."""
    bos = tokenizer.bos_token_id
    if bos is None:
        return []
    ids = tokenizer("a", add_special_tokens=True)["input_ids"]
    return [bos] if ids and ids[0] == bos else []


def resolve_prompt_format(tokenizer, prompt_format: str) -> str:
    """`"auto"` becomes `"chat"` when the tokenizer has a chat template, else `"plain"`; others pass through."""
    if prompt_format == "auto":
        return "chat" if getattr(tokenizer, "chat_template", None) else "plain"
    return prompt_format


def build_prefix(tokenizer, question: str | None, prompt_format: str) -> list[int]:
    """Token ids of P for one question.

    Args:
        tokenizer: a Hugging Face tokenizer.
        question (`str`, *optional*): the question; `None` or `""` means no question (P = S).
        prompt_format (`str`): `"chat"`, `"plain"`, `"none"` or `"auto"`.

    Raises:
        TokenizerError: `"chat"` was asked for and the tokenizer has no chat template.
    """
    prompt_format = resolve_prompt_format(tokenizer, prompt_format)
    if prompt_format == "none" or not question:
        return start_tokens(tokenizer)
    if prompt_format == "chat":
        if not getattr(tokenizer, "chat_template", None):
            raise TokenizerError(
                f"prompt_format='chat' needs a chat template, and {getattr(tokenizer, 'name_or_path', 'the tokenizer')!r} "
                "has none; use prompt_format='plain' (or 'auto')."
            )
        ids = tokenizer.apply_chat_template(
            [{"role": "user", "content": question}], add_generation_prompt=True, tokenize=True, return_dict=False
        )
        return list(ids)
    return start_tokens(tokenizer) + list(tokenizer(question + "\n\n", add_special_tokens=False)["input_ids"])
