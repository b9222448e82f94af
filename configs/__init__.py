"""medclip's shipped configuration files, installed as the package ``medclip_configs``.

Located at run time with :func:`medclip.resources.config_dir` / :func:`medclip.resources.config_file`;
this folder holds YAML/JSON/text data only.
"""
