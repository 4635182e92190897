"""CLIP Lab pipelines: UI-free, importable from a notebook. Never import gradio or plotly here."""
