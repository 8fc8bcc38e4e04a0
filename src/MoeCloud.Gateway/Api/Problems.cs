using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;

namespace MoeCloud.Gateway.Api;

/// <summary>
/// The gateway's <c>application/problem+json</c> errors (RFC 9457): every JSON and admin error carries a
/// <c>type</c> (the RFC section of its status), a <c>title</c>, the <c>status</c> and a <c>detail</c> saying what was wrong.
/// </summary>
public static class Problems
{
    /// <summary>The problem+json media type.</summary>
    public const string MediaType = "application/problem+json";

    /// <summary>A problem result of <paramref name="status"/>.</summary>
    public static IResult Result(int status, string title, string detail) =>
        TypedResults.Problem(new ProblemDetails { Type = TypeOf(status), Title = title, Status = status, Detail = detail });

    /// <summary>Fills what the framework leaves empty (status pages, the exception handler): the type, and a detail naming the request.</summary>
    public static void Complete(ProblemDetailsContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var problem = context.ProblemDetails;
        var status = problem.Status ?? context.HttpContext.Response.StatusCode;
        var request = context.HttpContext.Request;
        problem.Type ??= TypeOf(status);
        problem.Detail ??= status switch
        {
            StatusCodes.Status404NotFound => $"No endpoint serves {request.Method} {request.Path}.",
            StatusCodes.Status405MethodNotAllowed => $"{request.Path} does not take {request.Method}.",
            StatusCodes.Status415UnsupportedMediaType => NotJson(request),
            StatusCodes.Status500InternalServerError => "The gateway failed unexpectedly; the error is in its log under this trace id.",
            _ => $"{request.Method} {request.Path} failed with status {status}.",
        };
    }

    /// <summary>The detail of a 415: the body must be JSON.</summary>
    public static string NotJson(HttpRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        return $"The body must be application/json, got '{request.ContentType ?? "no content type"}'.";
    }

    /// <summary>The RFC 9110/6585 section that defines <paramref name="status"/>.</summary>
    public static string TypeOf(int status) => status switch
    {
        400 => "https://tools.ietf.org/html/rfc9110#section-15.5.1",
        401 => "https://tools.ietf.org/html/rfc9110#section-15.5.2",
        403 => "https://tools.ietf.org/html/rfc9110#section-15.5.4",
        404 => "https://tools.ietf.org/html/rfc9110#section-15.5.5",
        405 => "https://tools.ietf.org/html/rfc9110#section-15.5.6",
        413 => "https://tools.ietf.org/html/rfc9110#section-15.5.14",
        415 => "https://tools.ietf.org/html/rfc9110#section-15.5.16",
        429 => "https://tools.ietf.org/html/rfc6585#section-4",
        500 => "https://tools.ietf.org/html/rfc9110#section-15.6.1",
        503 => "https://tools.ietf.org/html/rfc9110#section-15.6.4",
        504 => "https://tools.ietf.org/html/rfc9110#section-15.6.5",
        _ => "about:blank",
    };
}
