//! `seed-demo --url http://127.0.0.1:3000 [--org demo] [--showcase]`: waits for the app,
//! seeds the demo org through the admin API (admin token from `SPIN_VARIABLE_ADMIN_TOKEN`)
//! and prints its credentials with a first request to try. `--showcase` (what `./dev up`
//! passes) also gives the org images to look at in the console (`demo::showcase`).

use std::time::{Duration, Instant};

fn main() {
    let mut url = "http://127.0.0.1:3000".to_owned();
    let mut org = "demo".to_owned();
    let mut showcase = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--showcase" => showcase = true,
            "--url" | "--org" => match (a.as_str(), args.next()) {
                ("--url", Some(v)) => url = v,
                (_, Some(v)) => org = v,
                _ => usage(),
            },
            _ => usage(),
        }
    }
    let Ok(admin) = std::env::var("SPIN_VARIABLE_ADMIN_TOKEN") else {
        fail("SPIN_VARIABLE_ADMIN_TOKEN is not set")
    };
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap_or_else(|e| fail(&e.to_string()));
    let deadline = Instant::now() + Duration::from_secs(120);
    while http
        .get(format!("{url}/healthz"))
        .send()
        .map(|r| !r.status().is_success())
        .unwrap_or(true)
    {
        if Instant::now() > deadline {
            fail(&format!("{url}/healthz did not answer 200 within 120 s"));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let c = catalog_e2e::demo::seed(&http, &url, &admin, &org).unwrap_or_else(|e| fail(&e));
    if showcase {
        catalog_e2e::demo::showcase(&http, &url, &admin, &c).unwrap_or_else(|e| fail(&e));
    }
    println!(
        "\n  demo org        {org}\n  REST token      {token}\n  AccessKey id    {id}\n  AccessKey secret {secret}\n  admin token     (SPIN_VARIABLE_ADMIN_TOKEN) {admin}\n\n  try: curl -s -H 'Authorization: Bearer {token}' {url}/imagemgmt/v1/images\n  console: {url}/console/ (sign in with the token above)\n",
        org = c.org,
        token = c.token,
        id = c.access_key_id,
        secret = c.access_key_secret,
    );
}

fn usage() -> ! {
    fail("usage: seed-demo [--url URL] [--org ORG] [--showcase]")
}

fn fail(msg: &str) -> ! {
    eprintln!("seed-demo: {msg}");
    std::process::exit(1)
}
