#!/usr/bin/env python3
"""Trains the tiny Gemma 4-shaped chat model that strix ships, with its own small tokenizer.

Runs on a machine with PyTorch, transformers 5.17 and tokenizers (the project's GPU machine):
  python3 models/gemma4-tiny-chat/train.py build/tiny-chat/data.jsonl OUT_FOLDER
OUT_FOLDER receives config.json, model.safetensors (bf16), tokenizer.json and samples.txt (greedy
replies to a few prompts). `strix convert OUT_FOLDER --type q8_0` then makes the shipped GGUF.

The tokenizer follows Gemma's tokenizer.json conventions (spaces as "▁", BPE with byte fallback,
<0xNN> byte tokens, Gemma 4 control tokens); the conversations are rendered with Gemma 4's turn
format exactly as strix's chat template renders them.
"""
import json
import math
import sys
import time

import torch
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
from transformers.models.gemma4.configuration_gemma4 import Gemma4TextConfig
from transformers.models.gemma4.modeling_gemma4 import Gemma4ForCausalLM

VOCAB_SIZE = 4096
# (text, special): special tokens are control tokens; the others are always rendered as text
# (USER_DEFINED in GGUF), as in Gemma 4's own tokenizer.
CONTROL_TOKENS = [("<pad>", True), ("<eos>", True), ("<bos>", True), ("<unk>", True), ("<mask>", True),
                  ("<|turn>", True), ("<turn|>", True), ("<|think|>", True), ("<|tool>", True), ("<tool|>", True),
                  ("<|channel>", False), ("<channel|>", False), ("<|tool_call>", False), ("<tool_call|>", False),
                  ("<|tool_response>", False), ("<tool_response|>", False), ('<|"|>', False)]


def render(messages):
    """Gemma 4 turn format; a model turn with a thought carries it in the thought channel."""
    text = "<bos>"
    for m in messages:
        body = m["content"]
        if m["role"] == "model" and m.get("thought"):
            body = f"<|channel>thought\n{m['thought']}<channel|>{body}"
        text += f"<|turn>{m['role']}\n{body}<turn|>\n"
    return text


def train_tokenizer(texts):
    trainer_tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True))
    trainer_tok.normalizer = normalizers.Replace(" ", "\u2581")
    trainer_tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split("\u2581", behavior="merged_with_next"), pre_tokenizers.Split("\n", behavior="isolated")])
    learned = VOCAB_SIZE - len(CONTROL_TOKENS) - 256
    trainer = trainers.BpeTrainer(vocab_size=learned, min_frequency=2, show_progress=False, limit_alphabet=200)
    trainer_tok.train_from_iterator(texts, trainer)
    trained = json.loads(trainer_tok.to_str())
    pieces = sorted(trained["model"]["vocab"].items(), key=lambda kv: kv[1])
    vocab = {text: i for i, (text, _) in enumerate(CONTROL_TOKENS)}
    for b in range(256):
        vocab[f"<0x{b:02X}>"] = len(vocab)
    for piece, _ in pieces:
        if piece not in vocab:
            vocab[piece] = len(vocab)
    spec = {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [{"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False,
                          "normalized": False, "special": s} for i, (t, s) in enumerate(CONTROL_TOKENS)],
        "normalizer": {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"},
        "pre_tokenizer": {"type": "Split", "pattern": {"String": " "}, "behavior": "MergedWithPrevious",
                          "invert": False},
        "post_processor": {"type": "TemplateProcessing",
                           "single": [{"SpecialToken": {"id": "<bos>", "type_id": 0}},
                                      {"Sequence": {"id": "A", "type_id": 0}}],
                           "pair": [{"SpecialToken": {"id": "<bos>", "type_id": 0}},
                                    {"Sequence": {"id": "A", "type_id": 0}},
                                    {"SpecialToken": {"id": "<bos>", "type_id": 1}},
                                    {"Sequence": {"id": "B", "type_id": 1}}],
                           "special_tokens": {"<bos>": {"id": "<bos>", "ids": [2], "tokens": ["<bos>"]}}},
        "decoder": {"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "},
            {"type": "ByteFallback"}, {"type": "Fuse"}]},
        "model": {"type": "BPE", "dropout": None, "unk_token": "<unk>", "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": True, "byte_fallback": True, "ignore_merges": False,
                  "vocab": vocab, "merges": trained["model"]["merges"]},
    }
    return Tokenizer.from_str(json.dumps(spec, ensure_ascii=False)), spec


def main():
    data_path, out = sys.argv[1], sys.argv[2]
    torch.manual_seed(0)
    conversations = [json.loads(line)["messages"] for line in open(data_path, encoding="utf-8")]
    texts = [render(c) for c in conversations]
    tokenizer, spec = train_tokenizer([m["content"] + " " + m.get("thought", "") for c in conversations for m in c])
    assert tokenizer.decode(tokenizer.encode(texts[0], add_special_tokens=False).ids, skip_special_tokens=False) \
        == texts[0], "tokenizer does not round-trip"
    stream = []
    for t in texts:
        stream += tokenizer.encode(t, add_special_tokens=False).ids
    print(f"{len(texts)} conversations, {len(stream)} tokens, vocab {tokenizer.get_vocab_size()}", flush=True)

    config = Gemma4TextConfig(
        vocab_size=VOCAB_SIZE, hidden_size=256, intermediate_size=768, num_hidden_layers=6,
        num_attention_heads=4, num_key_value_heads=2, head_dim=64, global_head_dim=64,
        layer_types=["sliding_attention", "sliding_attention", "full_attention"] * 2, sliding_window=128,
        max_position_embeddings=4096, rms_norm_eps=1e-6, hidden_activation="gelu_pytorch_tanh",
        tie_word_embeddings=True, final_logit_softcapping=30.0, hidden_size_per_layer_input=0,
        pad_token_id=0, bos_token_id=2, eos_token_id=[1, 6])
    model = Gemma4ForCausalLM(config).cuda().train()
    print("parameters", sum(p.numel() for p in model.parameters()), flush=True)

    data = torch.tensor(stream, dtype=torch.long, device="cuda")
    seq, batch, steps = 512, 64, int(sys.argv[3]) if len(sys.argv) > 3 else 1500
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3, betas=(0.9, 0.95), weight_decay=0.1)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / 100) * 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps)))
    start = time.time()
    for step in range(steps):
        offsets = torch.randint(0, len(stream) - seq - 1, (batch,), device="cuda")
        window = data[offsets[:, None] + torch.arange(seq + 1, device="cuda")]
        with torch.autocast("cuda", dtype=torch.bfloat16):
            logits = model(input_ids=window[:, :-1]).logits
        loss = torch.nn.functional.cross_entropy(logits.float().reshape(-1, VOCAB_SIZE), window[:, 1:].reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        if step % 100 == 0 or step == steps - 1:
            print(f"step {step} loss {loss.item():.3f} {time.time() - start:.0f}s", flush=True)

    # bf16 storage halves the download; the shipped GGUF is Q8_0 anyway.
    model.to(torch.bfloat16).save_pretrained(out, safe_serialization=True)
    model = Gemma4ForCausalLM.from_pretrained(out, dtype=torch.float32).cuda().eval()
    with open(f"{out}/tokenizer.json", "w", encoding="utf-8") as f:
        json.dump(spec, f, ensure_ascii=False)
    with open(f"{out}/samples.txt", "w", encoding="utf-8") as f:
        for question in ["Hello!", "What is Debian?", "How do I install a package?", "What is a Python list?",
                         "Tell me about the Python tutorial."]:
            prompt = render([{"role": "user", "content": question}]) + "<|turn>model\n"
            ids = torch.tensor([tokenizer.encode(prompt, add_special_tokens=False).ids], device="cuda")
            with torch.no_grad():
                reply = model.generate(ids, max_new_tokens=80, do_sample=False, eos_token_id=[1, 6], pad_token_id=0)
            text = tokenizer.decode(reply[0, ids.shape[1]:].tolist(), skip_special_tokens=False)
            f.write(f"> {question}\n{text}\n\n")
    print(open(f"{out}/samples.txt", encoding="utf-8").read())


if __name__ == "__main__":
    main()
