"""Hydra's entry for the plugin's configs: appends pkg://vaelab_resmlp.conf to the config search
path, so that `model=resmlp` and `objective=mmd` are options of train.py (and its --help).

Hydra imports every module of the `hydra_plugins` namespace package at start and uses the
Plugin subclasses it finds; this one imports nothing but Hydra.
"""

from hydra.core.config_search_path import ConfigSearchPath
from hydra.plugins.search_path_plugin import SearchPathPlugin


class ResMLPSearchPathPlugin(SearchPathPlugin):
    def manipulate_search_path(self, search_path: ConfigSearchPath) -> None:
        # Appended: vaelab's own conf/ (and the user's --config-dir) come first.
        search_path.append(provider="vaelab-resmlp", path="pkg://vaelab_resmlp.conf")
