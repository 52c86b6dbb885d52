import Hummingbird

/// `GET /api/v1/events`: server-sent events announcing each study the caller may now fetch something of.
struct EventsController {
    let events: EventHub

    func addRoutes(to api: RouterGroup<StrataContext>) {
        api.get("events") { _, context in events.stream(for: try context.caller) }
    }
}
