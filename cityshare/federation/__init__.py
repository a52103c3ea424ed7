"""三级平台互联互通: national (国家), city (市) and district (区县) CityShare instances.

``harvest``: the upward directory cascade (a higher instance harvests a lower one's directory). The
instance's identity and the lower instances it harvests are :mod:`cityshare.instance`; what an instance
offers its peers is :mod:`cityshare.share.federation`; data exchange between instances is a source
connector (:mod:`cityshare.sources.cityshare_peer`); harvested entries in the directory are
:mod:`cityshare.directory.harvested`.
"""
