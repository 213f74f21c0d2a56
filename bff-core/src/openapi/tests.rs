use super::*;

#[test]
fn operation_ids_and_path_parameters_follow_the_route() {
    assert_eq!(
        operation_id(&Method::GET, "/v1/users/{user_id}/home"),
        "get_v1_users_user_id_home"
    );
    assert_eq!(path_params("/v1/users/{user_id}/x/{id}"), ["user_id", "id"]);
}
