"""三级平台互联互通: national (国家), city (市) and district (区县) CityShare instances.

``identity``: who this instance is (level, GB/T 2260 area code, name, receipt signing key);
``feed``: what an instance offers its peers (identity, incremental directory);
``harvest``: the upward directory cascade (a higher instance harvests a lower one's directory).
Data exchange between instances is a source connector (:mod:`cityshare.sources.cityshare_peer`).
"""
