// Starts GraphiQL on the page the BFF serves at its GraphQL path; its
// requests go to that same path, with the browser's cookies.
(function () {
  var fetcher = GraphiQL.createFetcher({ url: location.pathname });
  var root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultEditorToolsVisibility: true,
    }),
  );
})();
