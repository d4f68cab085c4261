"""Training (layer: training, above publishing): TRL's SFTTrainer configured from recipe YAML and launched with
``accelerate launch`` (:mod:`training.sft`, also ``accelerate launch -m training.sft``), and TRL's GRPOTrainer with
the task scorer's reward (:mod:`training.grpo`, reinforcement learning from an SFT model); from-scratch GPT-2 with
a char-level tokenizer for the synthetic tasks, LoRA / 8-bit for pretrained LLMs; publishing the trained model.

May import :mod:`core`, :mod:`cards`, :mod:`generators` and :mod:`publishing`.
"""
