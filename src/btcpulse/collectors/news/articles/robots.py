"""robots.txt for every request, also for requests that wait on the same site's robots.txt.

Scrapy 2.19's ``RobotsTxtMiddleware`` hands each request waiting for a site's robots.txt the
same Twisted ``Deferred``; under the asyncio reactor each wait converts it to a future, and
that conversion consumes the result, so every waiter after the first gets ``None`` and is let
through unchecked (a disallowed page was fetched in our tests). Here each waiter gets its own
``Deferred``, relayed from the shared one, and so the parsed rules.
"""

from __future__ import annotations

from typing import Any

from scrapy import Request
from scrapy.downloadermiddlewares.robotstxt import RobotsTxtMiddleware
from scrapy.robotstxt import RobotParser
from scrapy.utils.defer import maybe_deferred_to_future
from scrapy.utils.httpobj import urlparse_cached
from twisted.internet.defer import Deferred


class SharedRobotsTxtMiddleware(RobotsTxtMiddleware):
    async def robot_parser(self, request: Request) -> RobotParser | None:
        pending = self._parsers.get(urlparse_cached(request).netloc)
        if isinstance(pending, Deferred):
            waiter: Deferred[RobotParser | None] = Deferred()

            def relay(result: Any) -> Any:
                waiter.callback(None if isinstance(result, BaseException) else result)
                return result

            pending.addBoth(relay)
            return await maybe_deferred_to_future(waiter)
        return await super().robot_parser(request)
