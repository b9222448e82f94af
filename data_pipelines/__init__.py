"""Building webdataset shards for medclip: sources, label-to-caption conversion, writer, CLI.

    python -m data_pipelines build                       # the demo set into data/shards/demo/
    python -m data_pipelines build --config configs/data/demo.yaml --workers 2 sources.demo.train=100
    python -m data_pipelines verify data/shards/demo/train

See ``docs/data.md``.
"""
