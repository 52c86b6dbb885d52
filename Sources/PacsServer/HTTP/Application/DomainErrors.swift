import Hummingbird
import Logging
import Tiering

/// The domain's errors as HTTP answers, in one place: a refusal of the access gate is 403 with its reason, an unknown
/// study or item 404, a workflow rule 403 or 409, a codec that failed 500 with what it said. Errors that know their
/// HTTP status already pass as they are.
struct DomainErrors: RouterMiddleware {
    typealias Context = StrataContext

    func handle(_ request: Request, context: StrataContext, next: (Request, StrataContext) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as any HTTPResponseError {
            throw error
        } catch {
            throw Self.answer(for: error, logger: context.logger)
        }
    }

    static func answer(for error: Error, logger: Logger) -> HTTPError {
        switch error {
        case let refusal as AccessRefusal:
            return HTTPError(.forbidden, message: refusal.reason)
        case let error as StatusChangeError:
            switch error {
            case .noSuchStudy: return HTTPError(.notFound, message: "\(error)")
            case .backwards: return HTTPError(.forbidden, message: "\(error); only admins move a study back")
            case .unchanged, .reasonRequired: return HTTPError(.conflict, message: "\(error)")
            }
        case let error as DiagnosticError:
            switch error {
            case .noSuchStudy, .noSuchItem: return HTTPError(.notFound, message: "\(error)")
            case .kindMismatch, .instanceNotInStudy: return HTTPError(.badRequest, message: "\(error)")
            }
        case let error as TierError:
            return HTTPError(error == .busy ? .conflict : .serviceUnavailable, message: "\(error)")
        case let error as CodecWorkerError:
            return HTTPError(.serviceUnavailable, message: "\(error)")
        default:
            logger.error("request failed", metadata: ["error": "\(error)"])
            return HTTPError(.internalServerError, message: "\(error)")
        }
    }
}
