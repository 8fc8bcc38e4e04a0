using MoeCloud.Operator.Hosting;

var builder = WebApplication.CreateBuilder(args);
builder.Services.AddMoeCloudOperator(builder.Configuration);
var app = builder.Build();
app.MapOperatorEndpoints();
await app.RunAsync();
