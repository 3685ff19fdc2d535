"""The article stage: a small Scrapy project fed from the bus (see ``spider.py``)."""
