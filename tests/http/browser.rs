//! The reference server's authorization pages in a real browser: headless
//! Chromium driven over WebDriver (chromedriver) signs in, approves, follows
//! the redirect, and the code is exchanged; the deny path; a cross-site
//! login form (login CSRF) refused; keyboard focus order and no sideways
//! scrolling at 320 and 360 px; screenshots of the pages at 1280 and 360 px
//! under `target/tmp/browser-screenshots/`.
//!
//! Needs Debian's `chromium` and `chromium-driver` (or `CHROMIUM` and
//! `CHROMEDRIVER` naming the binaries). Without them the test says so and
//! passes, unless `GRANTDB_REQUIRE_BROWSER` is set (as `.ci/run` sets it
//! after installing them), when it fails.

use crate::app;
use crate::support::TestResult;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use grantdb::{GrantType, NewClient, Store};
use serde_json::{Value, json};

/// The key WebDriver names an element by (W3C WebDriver §12.1).
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// The Tab key, in WebDriver's key codes.
const TAB: &str = "\u{E004}";

fn binary(variable: &str, candidates: &[&str]) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(variable) {
        return Some(PathBuf::from(path));
    }
    candidates
        .iter()
        .map(PathBuf::from)
        .find(|path| path.is_file())
}

/// chromedriver, stopped when dropped.
struct Driver {
    process: Child,
    base: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

impl Driver {
    /// Starts chromedriver on a free port and waits until it is ready.
    fn start(chromedriver: &Path) -> Driver {
        // A port is free when we bind it; another process may take it before
        // chromedriver does, so a driver that does not come up is retried.
        for _attempt in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|listener| listener.local_addr())
                .unwrap()
                .port();
            let process = Command::new(chromedriver)
                .arg(format!("--port={port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("chromedriver starts");
            let mut driver = Driver {
                process,
                base: format!("http://127.0.0.1:{port}"),
            };
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline {
                if driver.process.try_wait().ok().flatten().is_some() {
                    break; // exited: the port was taken
                }
                let ready = reqwest::blocking::get(format!("{}/status", driver.base))
                    .ok()
                    .and_then(|r| r.json::<Value>().ok())
                    .is_some_and(|status| status["value"]["ready"] == true);
                if ready {
                    return driver;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        panic!("chromedriver did not start");
    }
}

/// One browser session over the W3C WebDriver protocol.
struct Browser {
    http: reqwest::blocking::Client,
    session: String,
    _driver: Driver,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.http.delete(&self.session).send();
    }
}

impl Browser {
    fn open(driver: Driver, chromium: &Path) -> Browser {
        let http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_mins(2))
            .build()
            .unwrap();
        let capabilities = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu",
                    "--disable-dev-shm-usage", "--disable-background-networking",
                    "--no-first-run", "--disable-component-update", "--disable-sync",
                    "--hide-scrollbars", "--force-device-scale-factor=1",
                ],
            },
        }}});
        let answer: Value = http
            .post(format!("{}/session", driver.base))
            .json(&capabilities)
            .send()
            .unwrap()
            .json()
            .unwrap();
        let id = answer["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {answer}"));
        Browser {
            session: format!("{}/session/{id}", driver.base),
            http,
            _driver: driver,
        }
    }

    fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self.http.request(method, format!("{}{path}", self.session));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer: Value = request.send().unwrap().json().unwrap();
        assert!(
            answer["value"].get("error").is_none(),
            "WebDriver {path}: {answer}"
        );
        answer["value"].clone()
    }

    fn post(&self, path: &str, body: Value) -> Value {
        self.call(reqwest::Method::POST, path, Some(body))
    }

    fn get(&self, path: &str) -> Value {
        self.call(reqwest::Method::GET, path, None)
    }

    fn go(&self, url: &str) {
        self.post("/url", json!({ "url": url }));
    }

    fn url(&self) -> String {
        self.get("/url").as_str().unwrap().to_owned()
    }

    fn source(&self) -> String {
        self.get("/source").as_str().unwrap().to_owned()
    }

    fn resize(&self, width: u32, height: u32) {
        self.post("/window/rect", json!({ "width": width, "height": height }));
    }

    fn script(&self, script: &str) -> Value {
        self.post("/execute/sync", json!({ "script": script, "args": [] }))
    }

    fn element(&self, css: &str) -> String {
        let found = self.post("/element", json!({ "using": "css selector", "value": css }));
        found[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("no element {css}: {found}"))
            .to_owned()
    }

    fn type_into(&self, css: &str, text: &str) {
        let element = self.element(css);
        self.post(&format!("/element/{element}/clear"), json!({}));
        self.post(
            &format!("/element/{element}/value"),
            json!({ "text": text }),
        );
    }

    fn click(&self, css: &str) {
        let element = self.element(css);
        self.post(&format!("/element/{element}/click"), json!({}));
    }

    /// Presses Tab once.
    fn tab(&self) {
        self.post(
            "/actions",
            json!({ "actions": [{ "type": "key", "id": "keyboard", "actions": [
                { "type": "keyDown", "value": TAB }, { "type": "keyUp", "value": TAB },
            ]}]}),
        );
    }

    /// The id (or button value) of the focused element.
    fn focused(&self) -> String {
        self.script("const e = document.activeElement; return e.id || (e.name + '=' + e.value);")
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Waits until `done` holds for the page, for up to 20 s.
    fn wait_for(&self, what: &str, done: impl Fn(&Browser) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !done(self) {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Saves a PNG screenshot of the viewport, scrolled to the top, as `name`.
    fn screenshot(&self, directory: &Path, name: &str) {
        self.script("window.scrollTo(0, 0); return null;");
        let png = self.get("/screenshot");
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().unwrap())
            .unwrap();
        std::fs::write(directory.join(format!("{name}.png")), bytes).unwrap();
    }

    /// Whether the page is wider than the window (sideways scrolling).
    fn scrolls_sideways(&self) -> bool {
        self.script("return document.documentElement.scrollWidth > window.innerWidth;")
            .as_bool()
            .unwrap()
    }
}

/// The reference server and a stand-in for the client application: its
/// redirect URI (`/callback`) and an attacker's page (`/attack`).
struct Sites {
    server: String,
    application: String,
    store: Store,
    _runtime: tokio::runtime::Runtime,
}

fn attack_page(server: &str, client_id: &str, redirect: &str) -> String {
    // A cross-site form that signs the visitor into the attacker's account
    // and approves, submitted as soon as the page loads.
    format!(
        "<!doctype html><form method=post action=\"{server}/oauth/authorize\">\
         <input name=client_id value=\"{client_id}\"><input name=response_type value=code>\
         <input name=redirect_uri value=\"{redirect}\">\
         <input name=username value=\"john@domain.ch\"><input name=password value=\"secretabc123\">\
         <input name=decision value=approve></form><script>document.forms[0].submit()</script>"
    )
}

impl Sites {
    fn start() -> Sites {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let (server, application) = runtime.block_on(async {
            (
                tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
                tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
            )
        });
        let store = Store::in_memory(app::config().build().unwrap()).unwrap();
        let server_url = format!("http://{}", server.local_addr().unwrap());
        let application_url = format!("http://{}", application.local_addr().unwrap());
        runtime.spawn(app::serve(server, app::AppState::new(store.clone())));
        let attack = attack_page(
            &server_url,
            "CLIENT",
            &format!("{application_url}/callback"),
        );
        let routes = axum::Router::new()
            .route(
                "/callback",
                axum::routing::get(|| async { "back at the application" }),
            )
            .route(
                "/attack",
                axum::routing::get(
                    |axum::extract::Query(query): axum::extract::Query<
                        std::collections::HashMap<String, String>,
                    >| async move {
                        axum::response::Html(attack.replace("CLIENT", &query["client"]))
                    },
                ),
            );
        runtime.spawn(async move { axum::serve(application, routes).await });
        Sites {
            server: server_url,
            application: application_url,
            store,
            _runtime: runtime,
        }
    }
}

fn query(url: &str) -> std::collections::HashMap<String, String> {
    let query = url.split_once('?').map(|(_, q)| q).unwrap_or_default();
    serde_urlencoded::from_str(query).unwrap()
}

/// The pretix-like client the browser acts for, and the URLs it uses.
struct Flow {
    client_id: String,
    secret: String,
    callback: String,
    authorize: String,
    shots: PathBuf,
}

impl Flow {
    fn register(sites: &Sites) -> Result<Flow, Box<dyn std::error::Error>> {
        let callback = format!("{}/callback", sites.application);
        let registered = sites.store.register_client(
            NewClient::confidential("pretix connector")
                .redirect_uri(&callback)
                .grant_types([GrantType::AuthorizationCode, GrantType::RefreshToken])
                .scopes("read write profile")?,
        )?;
        let client_id = registered.client.id.to_string();
        // No scope in the request: the page lists the client's registered scope.
        let authorize = format!(
            "{}/oauth/authorize?client_id={client_id}&response_type=code&state=s-1",
            sites.server
        );
        let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser-screenshots");
        std::fs::create_dir_all(&shots)?;
        Ok(Flow {
            client_id,
            secret: registered.secret.unwrap().expose().to_owned(),
            callback,
            authorize,
            shots,
        })
    }
}

/// The sign-in and consent page, wide and narrow: content, keyboard focus
/// order, no sideways scrolling down to 320 px.
fn the_page_reads_well(browser: &Browser, flow: &Flow) {
    browser.resize(1280, 1100);
    browser.go(&flow.authorize);
    let page = browser.source();
    assert!(page.contains("pretix connector"), "the client's name");
    assert!(
        page.contains("See your events, orders and settings"),
        "scope described"
    );
    browser.screenshot(&flow.shots, "consent-1280");
    // Keyboard: focus starts in the email field, Tab goes password, Approve, Deny.
    assert_eq!(browser.focused(), "username");
    let mut order = Vec::new();
    for _ in 0..3 {
        browser.tab();
        order.push(browser.focused());
    }
    assert_eq!(order, ["password", "decision=approve", "decision=deny"]);
    for width in [360, 320] {
        browser.resize(width, 800);
        assert!(
            !browser.scrolls_sideways(),
            "no sideways scrolling at {width} px"
        );
    }
    browser.resize(360, 1300);
    browser.screenshot(&flow.shots, "consent-360");
}

/// A wrong password, then the right one: the error next to the field with
/// the email kept; then back at the application with a code that exchanges.
fn sign_in_and_approve(browser: &Browser, flow: &Flow, sites: &Sites) -> TestResult {
    browser.type_into("#username", "admin@localhost");
    browser.type_into("#password", "wrong");
    browser.click("button[value=approve]");
    browser.wait_for("the sign-in error", |b| {
        b.source().contains("password-error")
    });
    let kept: Value = browser.script("return document.getElementById('username').value;");
    assert_eq!(kept, "admin@localhost");
    browser.screenshot(&flow.shots, "sign-in-error-360");
    browser.resize(1280, 1100);
    browser.screenshot(&flow.shots, "sign-in-error-1280");

    browser.type_into("#password", "admin");
    browser.click("button[value=approve]");
    browser.wait_for("the redirect", |b| b.url().starts_with(&flow.callback));
    let back = query(&browser.url());
    assert_eq!(back["state"], "s-1");
    let tokens: Value = reqwest::blocking::Client::new()
        .post(format!("{}/oauth/token", sites.server))
        .basic_auth(&flow.client_id, Some(&flow.secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", back["code"].as_str()),
        ])
        .send()?
        .json()?;
    assert_eq!(tokens["token_type"], "Bearer", "{tokens}");
    assert_eq!(tokens["scope"], "profile read write");
    Ok(())
}

/// Deny, signed in: only the two buttons show; back with `access_denied`.
fn deny(browser: &Browser, flow: &Flow) {
    browser.go(&flow.authorize);
    assert!(browser.source().contains("Signed in as"));
    browser.click("button[value=deny]");
    browser.wait_for("the denial", |b| b.url().starts_with(&flow.callback));
    let back = query(&browser.url());
    assert_eq!(back["error"], "access_denied");
    assert_eq!(back["state"], "s-1");
}

/// Login CSRF: a page on another origin posts a sign-in as the attacker.
/// Refused, and the victim stays who they were: signed in as themselves, or
/// (a fresh browser) not signed in at all.
fn login_csrf_is_refused(browser: &Browser, flow: &Flow, sites: &Sites) {
    let attack = format!("{}/attack?client={}", sites.application, flow.client_id);
    let refused = |b: &Browser| b.source().contains("could not be verified");
    browser.go(&attack);
    browser.wait_for("the refusal", refused);
    browser.go(&flow.authorize);
    assert!(
        browser
            .source()
            .contains("Signed in as <strong>admin@localhost</strong>")
    );
    browser.call(reqwest::Method::DELETE, "/cookie", None);
    browser.go(&flow.authorize);
    browser.go(&attack);
    browser.wait_for("the refusal", refused);
    browser.screenshot(&flow.shots, "csrf-refused-1280");
    browser.resize(360, 1300);
    browser.screenshot(&flow.shots, "csrf-refused-360");
    browser.go(&flow.authorize);
    let page = browser.source();
    assert!(
        !page.contains("Signed in as"),
        "the attacker's sign-in did not stick"
    );
    assert!(page.contains("id=\"password\""));
}

#[test]
fn the_consent_flow_in_a_real_browser() -> TestResult {
    let required = std::env::var_os("GRANTDB_REQUIRE_BROWSER").is_some();
    let chromium = binary(
        "CHROMIUM",
        &["/usr/bin/chromium", "/usr/bin/chromium-browser"],
    );
    let chromedriver = binary("CHROMEDRIVER", &["/usr/bin/chromedriver"]);
    let (Some(chromium), Some(chromedriver)) = (chromium, chromedriver) else {
        assert!(
            !required,
            "GRANTDB_REQUIRE_BROWSER is set but chromium or chromedriver is missing"
        );
        eprintln!(
            "browser test skipped: install Debian's chromium and chromium-driver \
             (or set CHROMIUM and CHROMEDRIVER) to run it"
        );
        return Ok(());
    };
    let sites = Sites::start();
    let flow = Flow::register(&sites)?;
    let browser = Browser::open(Driver::start(&chromedriver), &chromium);
    the_page_reads_well(&browser, &flow);
    sign_in_and_approve(&browser, &flow, &sites)?;
    deny(&browser, &flow);
    login_csrf_is_refused(&browser, &flow, &sites);
    Ok(())
}
