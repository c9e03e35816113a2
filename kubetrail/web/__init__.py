"""The web pages of `kubetrail serve`: events, alerts, rules, intakes.

web_routes(service, auth) -> routes    mount them in the service's route list
"""

from kubetrail.web.routes import web_routes

__all__ = ["web_routes"]
