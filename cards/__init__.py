"""What gets published and where: dataset and model cards (huggingface_hub ``DatasetCard`` / ``ModelCard``),
and the publishing targets: the Hugging Face Hub through ``HfApi`` and the embedded local hub folder."""
