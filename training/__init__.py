"""Training recipes: TRL's SFTTrainer configured from recipe YAML and launched with ``accelerate launch``;
from-scratch GPT-2 with a char-level tokenizer for the synthetic tasks, LoRA / 8-bit for pretrained LLMs."""
